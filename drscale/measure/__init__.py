"""Stage 4, measurement: contrastive entropy, ranking metrics, and the dev measurement training selects on."""
