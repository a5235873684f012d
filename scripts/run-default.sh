#!/bin/sh
# What `make run` runs: the default study on the embedded synthetic world.
set -eu
./plateau model info --preset mini
