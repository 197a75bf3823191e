/* sim_data.c: the deterministic synthetic practice. Only what searches need
 * (names, birth dates, phones) is kept in memory; every other resource is a
 * pure function of (seed, type, patient index, k), and its uuid encodes those
 * numbers so a read needs no index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static const char *const given_f[] = {
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
    "Sarah", "Karen", "Lisa", "Nancy", "Betty", "Sandra", "Margaret", "Ashley", "Kimberly",
    "Emily", "Donna", "Michelle", "Carol", "Amanda", "Melissa", "Deborah", "Stephanie",
    "Rebecca", "Sharon", "Laura", "Cynthia", "Dorothy", "Amy", "Angela", "Helen", "Anna",
    "Brenda", "Pamela", "Emma", "Nicole", "Samantha", "Katherine", "Christine", "Debra",
    "Rachel", "Carolyn", "Janet", "Maria", "Olivia", "Heather", "Diane", "Julie", "Joyce"};
static const char *const given_m[] = {
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Christopher", "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven",
    "Andrew", "Paul", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald",
    "Jason", "Edward", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan",
    "Stephen", "Larry", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory",
    "Alexander", "Patrick", "Frank", "Raymond", "Jack", "Dennis", "Jerry", "Tyler"};
static const char *const family[] = {
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris",
    "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson",
    "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Okafor",
    "Kowalski", "Nakamura", "Haddad", "O'Brien", "Petrov", "Lindqvist", "Abernathy"};
static const char *const area[] = {"617", "508", "413", "781", "978", "339", "774", "351"};

#define NGF (sizeof(given_f) / sizeof(given_f[0]))
#define NGM (sizeof(given_m) / sizeof(given_m[0]))
#define NFAM (sizeof(family) / sizeof(family[0]))
#define NAREA (sizeof(area) / sizeof(area[0]))
#define MED_CATALOGUE 24

static int hex_field(const char *s, size_t n, uint64_t *out);

int sim_data_init(sim_data *d, unsigned long n, unsigned long long seed)
{
    d->n = n;
    d->seed = seed;
    d->p = calloc(n ? n : 1, sizeof(*d->p));
    if (!d->p)
        return -1;
    for (unsigned long i = 0; i < n; i++) {
        sim_patient *p = &d->p[i];
        uint64_t h = sim_hash(seed, SIM_R_PATIENT, i, 0);
        uint64_t h2 = sim_hash(seed, SIM_R_PATIENT, i, 1);
        p->sex = (uint8_t)(h & 1);
        p->given = (uint16_t)((h >> 1) % (p->sex ? NGM : NGF));
        p->middle = (uint16_t)((h >> 9) % (p->sex ? NGM : NGF));
        p->family = (uint16_t)((h >> 17) % NFAM);
        p->year = (uint16_t)(1930 + (h >> 25) % 91);
        p->month = (uint8_t)(1 + (h >> 33) % 12);
        p->day = (uint8_t)(1 + (h >> 37) % 28);
        /* 555-0100..0199 numbers are reserved for fiction in the NANP */
        snprintf(p->phone, sizeof(p->phone), "%s-555-01%02u", area[h2 % NAREA],
                 (unsigned)((h2 >> 8) % 100));
    }
    return 0;
}

void sim_data_free(sim_data *d)
{
    free(d->p);
    d->p = NULL;
    d->n = 0;
}

/* splitmix64 over the mixed inputs: fast, stable across platforms. */
uint64_t sim_hash(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t z = seed ^ (a * 0x9E3779B97F4A7C15ULL) ^ (b * 0xC2B2AE3D27D4EB4FULL) ^
                 (c * 0x165667B19E3779F9ULL);
    for (int i = 0; i < 2; i++) {
        z += 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
    }
    return z;
}

void sim_uuid(const sim_data *d, int t, unsigned long idx, unsigned k, char *out)
{
    uint64_t h = sim_hash(d->seed, (uint64_t)t + 1000, idx, k);
    snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(h >> 32), (unsigned)t,
             k & 0xfff, (unsigned)(h & 0xfff), (unsigned long long)idx);
}

int sim_uuid_parse(const sim_data *d, const char *s, int *t, unsigned long *idx, unsigned *k)
{
    uint64_t f1, f2, f3, f4, f5;
    if (strnlen(s, 37) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' ||
        s[14] != '4' || s[19] != '8')
        return -1;
    if (hex_field(s, 8, &f1) || hex_field(s + 9, 4, &f2) || hex_field(s + 15, 3, &f3) ||
        hex_field(s + 20, 3, &f4) || hex_field(s + 24, 12, &f5))
        return -1;
    if (f2 == 0 || f2 >= SIM_R_COUNT)
        return -1;
    uint64_t h = sim_hash(d->seed, f2 + 1000, f5, f3);
    if ((h >> 32) != f1 || (h & 0xfff) != f4)
        return -1;
    unsigned long limit = f2 == SIM_R_MEDICATION ? MED_CATALOGUE
                        : f2 == SIM_R_PRACTITIONER ? 1000000UL : d->n;
    if (f5 >= limit)
        return -1;
    if (f2 != SIM_R_MEDICATION && f2 != SIM_R_PRACTITIONER &&
        f3 >= sim_data_count(d, (int)f2, (unsigned long)f5))
        return -1;
    *t = (int)f2;
    *idx = (unsigned long)f5;
    *k = (unsigned)f3;
    return 0;
}

unsigned sim_data_count(const sim_data *d, int t, unsigned long idx)
{
    uint64_t h = sim_hash(d->seed, 77, idx, (uint64_t)t);
    switch (t) {
    case SIM_R_PATIENT: return 1;
    case SIM_R_ENCOUNTER: return 1 + (unsigned)(h % 5);
    case SIM_R_DIAGREPORT: return 1 + (unsigned)(h % 2);
    case SIM_R_MEDREQUEST: return (unsigned)(h % 4);
    case SIM_R_OBSERVATION: return 3 + (unsigned)(h % 4);
    case SIM_R_CONDITION: return 1 + (unsigned)(h % 3);
    case SIM_R_ALLERGY: return (unsigned)(h % 3);
    case SIM_R_APPOINTMENT: return 1 + (unsigned)(h % 2);
    case SIM_R_MEDICATION: return 1;
    default: return 0;
    }
}

const char *sim_given_name(const sim_patient *p)
{
    return p->sex ? given_m[p->given % NGM] : given_f[p->given % NGF];
}

const char *sim_middle_name(const sim_patient *p)
{
    return p->sex ? given_m[p->middle % NGM] : given_f[p->middle % NGF];
}

const char *sim_family_name(const sim_patient *p)
{
    return family[p->family % NFAM];
}

unsigned long sim_medication_catalogue_size(void)
{
    return MED_CATALOGUE;
}

static int hex_field(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int x = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (x < 0)
            return -1;
        v = v * 16 + (uint64_t)x;
    }
    *out = v;
    return 0;
}
