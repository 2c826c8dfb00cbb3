#!/bin/sh
# One RabbitMQ user per Conveyor service, plus one outside publisher, through the management
# API; guest is deleted. Run once by docker-compose.security.yml (idempotent: PUTs).
# Passwords come from the environment, never from this file (no '"' or '\' in them: they
# are spliced into JSON).
set -eu

API="${RABBITMQ_API:-http://rabbitmq:15672/api}"
ADMIN="${RABBITMQ_ADMIN_USER:?}:${RABBITMQ_ADMIN_PASSWORD:?}"
VHOST="%2F"
NS="${CONVEYOR_NAMESPACE:-conveyor}"

put() {  # put <path> <json>
  curl -fsS -u "$ADMIN" -X PUT -H 'content-type: application/json' -d "$2" "$API/$1" >/dev/null
}

user() {  # user <name> <password>
  put "users/$1" "{\"password\": \"$2\", \"tags\": \"\"}"
}

# Conveyor's services declare the whole topology (idempotently) and consume and publish
# within their namespace (parking a paused type's jobs publishes through the default exchange,
# amq.default); what each may publish for which job types is narrowed by topic permissions.
service() {  # service <name> <password> <jobs routing keys> <events routing keys>
  user "$1" "$2"
  put "permissions/$VHOST/$1" \
    "{\"configure\": \"^$NS\\\\.\", \"write\": \"^($NS\\\\.|amq\\\\.default\$)\", \"read\": \"^$NS\\\\.\"}"
  put "topic-permissions/$VHOST/$1" "{\"exchange\": \"$NS.jobs\", \"write\": \"$3\", \"read\": \".*\"}"
  put "topic-permissions/$VHOST/$1" "{\"exchange\": \"$NS.events\", \"write\": \"$4\", \"read\": \".*\"}"
}

service conveyor-gateway "${GATEWAY_AMQP_PASSWORD:?}" '^job\\.' '^job\\.'
service conveyor-maintenance "${MAINTENANCE_AMQP_PASSWORD:?}" '^job\\.' '^(job|dataset|system)\\.'
service conveyor-export "${EXPORT_AMQP_PASSWORD:?}" '^job\\.export$' '^job\\.'
service conveyor-aggregates "${AGGREGATES_AMQP_PASSWORD:?}" '^job\\.(aggregates|search)$' '^job\\.'

# An outside service that submits exports for its own reporting account: it may only write
# to the jobs exchange, only export jobs, and (CONVEYOR_PUBLISHER_OWNERS) only as its owners.
user billing "${BILLING_AMQP_PASSWORD:?}"
put "permissions/$VHOST/billing" "{\"configure\": \"^\$\", \"write\": \"^$NS\\\\.jobs\$\", \"read\": \"^\$\"}"
put "topic-permissions/$VHOST/billing" "{\"exchange\": \"$NS.jobs\", \"write\": \"^job\\\\.export\$\", \"read\": \"^\$\"}"

curl -fsS -u "$ADMIN" -X DELETE "$API/users/guest" >/dev/null || true
echo "RabbitMQ users ready"
