"""Every use of a library below its public API, each with a plain public-API fallback
chosen by ``Settings.transport`` (docs/architecture.md, Boundaries)."""
