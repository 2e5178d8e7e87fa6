#!/bin/bash
# Each TOSCA_r class as one collection with the registration of the final maps (register_final),
# against today's pairwise default, registration step included (every within-class pair:
# docs/bench/tosca_full_cpu/registration_agreement/merged/pairs.csv); results in
# docs/bench/collection_cpu/registration/CLASS. Usage, from the repository root, with the
# project's environment on PATH: docs/bench/collection_cpu/registration/run_class.sh CLASS ...
PAIRWISE=docs/bench/tosca_full_cpu/registration_agreement/merged/pairs.csv WORK=out/coll_reg \
  OUT=docs/bench/collection_cpu/registration exec "$(dirname "$0")/../tosca_today/run_class.sh" "$@"
