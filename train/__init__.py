"""The compact generator-discriminator trainer (installed as electra_data.train)."""
