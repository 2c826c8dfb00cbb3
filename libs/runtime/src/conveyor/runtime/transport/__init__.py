"""The AMQP transport: every use of aio-pika, aiormq and pamqp below their public APIs.

Each fast path here has a plain fallback on the libraries' public APIs, chosen by one setting
(``Settings.transport``, see ``mode``); both keep the same behaviour, and the contract tests
in tests/runtime/transport run against the real broker in both modes. Nothing outside this
package imports aiormq or pamqp, or touches the libraries' private state (a test checks).
"""
