/*
 * testmod_lazydep_lib.c - a library of the loader's test module
 * testmod_lazydep, linked lazily, with a function that calls a symbol no
 * object defines: a program linking this library starts, and so must a
 * plugin linked -z now that links it.
 */
int testmod_lazydep_answer(void);
int testmod_lazydep_broken(void);
int testmod_lazydep_undefined(void);

int testmod_lazydep_answer(void)
{
    return 42;
}

int testmod_lazydep_broken(void)
{
    return testmod_lazydep_undefined();
}
