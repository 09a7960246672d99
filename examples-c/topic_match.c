/*
 * topic_match: tells whether an MQTT topic name matches a topic filter.
 *
 *     build/topic_match FILTER TOPIC
 *
 * Prints "match" (exit 0) or "no match" (exit 1). An invalid filter or topic name is reported
 * on stderr with exit status 2, as is a usage error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: topic_match FILTER TOPIC\n"
            "Prints \"match\" (exit 0) or \"no match\" (exit 1); invalid input exits 2.\n"
            "Example: topic_match 'sport/+/player1' sport/tennis/player1\n");
}

int main(int argc, char **argv) {
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("topic_match (libmqtt %s, built against %s)\n", mqtt_version(), MQTT_VERSION);
        return 0;
    }
    if (argc != 3) {
        usage(stderr);
        return 2;
    }

    bool matches = false;
    mqtt_status status = mqtt_topic_matches(argv[1], argv[2], &matches);
    if (status != MQTT_STATUS_OK) {
        fprintf(stderr, "topic_match: %s: %s\n", mqtt_status_str(status), mqtt_last_error());
        return 2;
    }
    puts(matches ? "match" : "no match");
    return matches ? 0 : 1;
}
