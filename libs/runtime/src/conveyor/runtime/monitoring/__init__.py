"""Operations views shared by the gateway's monitoring API: workers, queues, dead letters, stats."""
