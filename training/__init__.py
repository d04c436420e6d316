"""The pipeline that makes GLoRe's five models: student, ORM, SORM, global and local refiners."""
