//! Test binary `codec`: the MQTT 3.1.1 and 5.0 codec and the topic rules, without a broker or
//! sockets.

mod framing;

mod codec {
    mod packets;
    mod packets_proptest;
    mod packets_v5;
    mod topic;
    mod topic_proptest;
}
