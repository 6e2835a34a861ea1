/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/vsock_thread_server.c: the Programming Guide's stream server with a
 * thread per connection. Usage: vsock_thread_server PORT CLIENTS
 *
 * Listens on PORT; for each of CLIENTS connections it accepts, it starts a thread that
 * echoes what the client sends until it shuts down its side, closes the connection and
 * returns the number of bytes it echoed. The threads share the process's descriptors (the
 * main thread never touches a connection after handing it over) and count the clients
 * they served under a mutex. Then the main thread joins every thread and prints what each
 * returned, and the total.
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "vsock_common.h"

struct client {
    pthread_t thread;
    int connection;
    unsigned int number;
};

static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int served;

static void *serve(void *argument)
{
    struct client *client = argument;
    printf("thread %u: pid %d tid %ld\n", client->number, (int)getpid(),
           (long)syscall(SYS_gettid));
    fflush(stdout);
    unsigned long long echoed = echo_until_end(client->connection, "thread");
    close(client->connection);
    pthread_mutex_lock(&served_lock);
    served++;
    pthread_mutex_unlock(&served_lock);
    return (void *)(uintptr_t)echoed;
}

static int listen_on(unsigned int port)
{
    int listener = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (listener < 0)
        fail("server", "socket");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = port };
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0)
        fail("server", "bind");
    if (listen(listener, 8) < 0)
        fail("server", "listen");
    return listener;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT CLIENTS\n", argv[0]);
        return 2;
    }
    unsigned int clients = parse_number(argv[2]);
    struct client *table = calloc(clients, sizeof(*table));
    if (table == NULL)
        return 2;
    int listener = listen_on(parse_number(argv[1]));
    printf("server: pid %d listening on port %s\n", (int)getpid(), argv[1]);
    fflush(stdout);
    for (unsigned int number = 0; number < clients; number++) {
        table[number].number = number;
        table[number].connection = accept(listener, NULL, NULL);
        if (table[number].connection < 0)
            fail("server", "accept");
        int rc = pthread_create(&table[number].thread, NULL, serve, &table[number]);
        if (rc != 0) {
            printf("server: pthread_create: %s\n", strerrorname_np(rc));
            return 1;
        }
    }
    close(listener);
    unsigned long long total = 0;
    for (unsigned int number = 0; number < clients; number++) {
        void *result = NULL;
        int rc = pthread_join(table[number].thread, &result);
        printf("server: joined thread %u: %s, echoed %llu bytes\n", number,
               rc == 0 ? "ok" : strerrorname_np(rc), (unsigned long long)(uintptr_t)result);
        total += (unsigned long long)(uintptr_t)result;
    }
    printf("server: %u clients served, %llu bytes in all\n", served, total);
    fflush(stdout);
    free(table);
    return 0;
}
