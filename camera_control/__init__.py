"""The hall's cameras: ONVIF control, discovery, the registry, RTSP ingest, motion events, and a simulator."""
