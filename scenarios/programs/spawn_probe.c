/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/spawn_probe.c: posix_spawn, posix_spawnp, system and popen, as a
 * program that runs commands through the shell uses them. It prints one line per check:
 *
 *   system: null 1                          a shell is there
 *   system: exited 3                        `system("echo from-system; exit 3")`
 *   popen: read from-popen / second         `popen("...", "r")`, line by line
 *   popen: pclose exited 0
 *   popen: wrote 11 bytes, file "to the file"   `popen("cat > popen.txt", "w")`
 *   spawnp: file "spawned" status exited 0  file actions: stdout opened onto spawn.txt
 *   spawn: missing ENOENT                   posix_spawn of a path that is not there
 *
 * Run it only inside vmcisim (its scratch directory is the working directory).
 */
#include <spawn.h>
#include <sys/wait.h>

#include "vsock_common.h"

extern char **environ;

static void print_status(const char *who, int status)
{
    if (status >= 0 && WIFEXITED(status))
        printf("%s exited %d\n", who, WEXITSTATUS(status));
    else if (status >= 0 && WIFSIGNALED(status))
        printf("%s signalled %d\n", who, WTERMSIG(status));
    else
        printf("%s failed %s\n", who, strerrorname_np(errno));
}

/* The first line of `path`, without its newline ("" when unreadable). */
static const char *file_line(const char *path, char *line, size_t size)
{
    FILE *file = fopen(path, "r");
    line[0] = '\0';
    if (file != NULL) {
        if (fgets(line, (int)size, file) == NULL)
            line[0] = '\0';
        fclose(file);
    }
    line[strcspn(line, "\n")] = '\0';
    return line;
}

static void check_system(void)
{
    printf("system: null %d\n", system(NULL));
    fflush(stdout);                         /* before the shell writes to the same pipe */
    print_status("system:", system("echo from-system; exit 3"));
}

static void check_popen(void)
{
    char line[128];
    FILE *reader = popen("echo from-popen; echo second", "r");
    if (reader == NULL)
        fail("popen", "popen r");
    printf("popen: read");
    while (fgets(line, sizeof(line), reader) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        printf(" %s /", line);
    }
    printf("\n");
    print_status("popen: pclose", pclose(reader));
    FILE *writer = popen("cat > popen.txt", "w");
    if (writer == NULL)
        fail("popen", "popen w");
    int wrote = fprintf(writer, "to the file");
    int status = pclose(writer);
    printf("popen: wrote %d bytes, file \"%s\", ", wrote, file_line("popen.txt", line,
                                                                     sizeof(line)));
    print_status("status", status);
}

static void check_spawn(void)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "spawn.txt",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = { "sh", "-c", "echo spawned", NULL };
    pid_t child = -1;
    int rc = posix_spawnp(&child, "sh", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    int status = -1;
    if (rc == 0 && waitpid(child, &status, 0) != child)
        status = -1;
    char line[128];
    printf("spawnp: rc %d file \"%s\" ", rc, file_line("spawn.txt", line, sizeof(line)));
    print_status("status", status);
    char *missing[] = { "missing", NULL };
    rc = posix_spawn(&child, "/nonexistent/missing", NULL, NULL, missing, environ);
    printf("spawn: missing %s\n", rc == 0 ? "started" : strerrorname_np(rc));
}

int main(void)
{
    check_system();
    check_popen();
    check_spawn();
    return 0;
}
