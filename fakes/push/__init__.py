"""Stand-ins for the push providers, each a real server on loopback speaking its wire format
and checking what the real one checks (`webpush`, `fcm`, `apns`), and the credentials a test
makes for them (`credentials`). Each records the deliveries it accepted, logs each one, can be
told to fail the first attempts of every message, and answers "gone" for a dead device.
"""
