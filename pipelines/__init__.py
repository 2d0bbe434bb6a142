"""Apache Beam transforms and the build graph (installed as electra_data.pipelines)."""
