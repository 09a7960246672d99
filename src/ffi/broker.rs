//! C bindings of the embeddable broker (`mqtt_broker_*`).
