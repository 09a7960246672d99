//! The embeddable broker: one listener thread, one thread per connection.
