//! Test binary `codec`: the MQTT 3.1.1 codec and the topic rules, without a broker or sockets.

mod framing;

mod codec {
    mod packets;
    mod packets_proptest;
    mod topic;
    mod topic_proptest;
}
