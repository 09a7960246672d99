/* A minimal check harness shared by the C test programs written for the client lifecycle:
 * CHECK counts and reports a failed condition with the thread's last libmqtt error, and
 * checks_report() prints the summary the Rust tests look for and gives the exit status. */
#ifndef LIBMQTT_TEST_CHECK_H
#define LIBMQTT_TEST_CHECK_H

#include <stdio.h>
#include <time.h>

#include "mqtt.h"

static int checks, failures;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        ++checks;                                                                          \
        if (!(cond)) {                                                                     \
            ++failures;                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, mqtt_last_error());                                             \
        }                                                                                  \
    } while (0)

static int checks_report(void) {
    if (failures) {
        fprintf(stderr, "%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

#endif
