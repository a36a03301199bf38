/*
 * hello-service: a tiny HTTP server that builds to one static Linux binary, so its image can be
 * FROM scratch. GET / answers a greeting, GET /healthz answers "ok" (the readiness probe).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GREETING "hello from tightloop"

static volatile sig_atomic_t stopping = 0;
static void on_term(int sig) { (void)sig; stopping = 1; }

static void reply(int fd, const char *status, const char *body) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0) perror("write");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts(GREETING);
        return 0;
    }
    const char *port_text = getenv("PORT");
    int port = port_text ? atoi(port_text) : 8080;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);

    int server = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(server, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(server, 64) < 0) {
        perror("listen");
        return 1;
    }
    printf("hello-service listening on :%d\n", port);
    fflush(stdout);

    while (!stopping) {
        int client = accept(server, NULL, NULL);
        if (client < 0) continue;
        char request[1024] = {0};
        ssize_t got = read(client, request, sizeof request - 1);
        if (got > 0 && strncmp(request, "GET /healthz", 12) == 0) reply(client, "200 OK", "ok\n");
        else if (got > 0 && strncmp(request, "GET / ", 6) == 0) reply(client, "200 OK", GREETING "\n");
        else reply(client, "404 Not Found", "not found\n");
        close(client);
    }
    close(server);
    return 0;
}
