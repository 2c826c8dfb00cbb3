"""The awards dataset: schema and layout, generator, importer and the shared filters."""
