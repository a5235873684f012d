/* The vocabularies the bios world draws people from: names, cities,
 * universities, majors, companies (each with a fixed headquarters city), and
 * the sentence and question templates. Plain C arrays so the world needs no
 * files. Pools are pairwise disjoint where a clash could make one person's
 * name a substring of another's (first vs middle vs last names). */
#ifndef PLATEAU_BIOS_POOLS_H
#define PLATEAU_BIOS_POOLS_H

extern const char *const BIOS_FEMALE_NAMES[];
extern const int BIOS_N_FEMALE_NAMES;
extern const char *const BIOS_MALE_NAMES[];
extern const int BIOS_N_MALE_NAMES;
extern const char *const BIOS_MIDDLE_NAMES[];
extern const int BIOS_N_MIDDLE_NAMES;
extern const char *const BIOS_LAST_NAMES[];
extern const int BIOS_N_LAST_NAMES;
extern const char *const BIOS_CITIES[];
extern const int BIOS_N_CITIES;
extern const char *const BIOS_UNIVERSITIES[];
extern const int BIOS_N_UNIVERSITIES;
extern const char *const BIOS_MAJORS[];
extern const int BIOS_N_MAJORS;

typedef struct {
    const char *name;
    int city;          /* index into BIOS_CITIES: where the company sits */
} BiosCompany;
extern const BiosCompany BIOS_COMPANIES[];
extern const int BIOS_N_COMPANIES;

extern const char *const BIOS_MONTHS[12];

#endif

/* Sentence templates, question phrasings and cloze prefixes, indexed by
 * attribute in the order of BiosAttribute (bios.h): birth date, birth city,
 * university, major, employer, work city. Each list ends with NULL.
 * Placeholders: {name} (always first, so the pronoun augmentation can replace
 * it), {value} (the attribute's value, in every sentence template) and
 * {employer}. Template 0 of each attribute is the one the cloze prefix
 * (BIOS_CLOZE) is cut from, so multiple-choice items read like training text. */
#define BIOS_POOL_ATTRIBUTES 6
#define BIOS_MAX_TEMPLATES 32
#define BIOS_MAX_QUESTIONS 8
extern const char *const BIOS_SENTENCES[BIOS_POOL_ATTRIBUTES][BIOS_MAX_TEMPLATES];
extern const char *const BIOS_QUESTIONS[BIOS_POOL_ATTRIBUTES][BIOS_MAX_QUESTIONS];
extern const char *const BIOS_CLOZE[BIOS_POOL_ATTRIBUTES];
