"""The ``conveyor`` command line: one module per subcommand, dispatched by ``__main__``."""
