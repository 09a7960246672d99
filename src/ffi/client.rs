//! C bindings of the blocking client (`mqtt_connect`, `mqtt_connection_*`, ...).
