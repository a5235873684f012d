/* The world and model of the tiny studies the integration tests run: 40
 * synthetic people and the nano model at a 400-token vocabulary, so that a
 * whole study takes seconds. Lines of a [study] section. */
#ifndef PLATEAU_TESTS_TINY_STUDY_H
#define PLATEAU_TESTS_TINY_STUDY_H

#define TINY_STUDY_WORLD \
    "world = bios\n"     \
    "people = 40\n"      \
    "preset = nano\n"    \
    "vocab = 400\n"

#endif
