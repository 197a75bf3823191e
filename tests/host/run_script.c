/*
 * run_script.c - run a test shell script as a child and pass on its status.
 *
 * meson test --wrap=valgrind would otherwise run valgrind on /bin/sh and
 * report the shell's own leaks; this way valgrind checks this launcher and
 * the script runs natively (the programs it tests are checked for leaks by
 * the ASan+UBSan pass).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRIPT [ARGS...]\n", argv[0]);
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "run_script: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        execv(argv[1], argv + 1);
        fprintf(stderr, "run_script: cannot run %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    fprintf(stderr, "run_script: %s died of signal %d\n", argv[1], WTERMSIG(status));
    return 1;
}
