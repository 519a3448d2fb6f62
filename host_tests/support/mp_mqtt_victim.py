"""lib/net/mqtt.py and lib/net/mqtt_session.py under the MicroPython unix port, facing a broker that sends garbage.

`micropython mp_mqtt_victim.py PORT` connects through a Session to
127.0.0.1:PORT and polls it (the caller's loop) until the connection is
dropped (or 10 s pass) and prints one JSON line: the MQTTException code that
ended it, whether the client is still connected, the messages delivered and
the drop count. Started by host_tests/test_mqtt_client.py.
"""

import json
import sys
import time

from compat import ticks_ms
from mqtt import MQTTClient
from mqtt_session import Session

received = []
client = MQTTClient("mp-victim", "127.0.0.1", int(sys.argv[1]), timeout_ms=2000)
client.set_callback(lambda topic, msg: received.append([topic.decode(), msg.decode()]))
session = Session(client, retry_ms=60000)
for _ in range(2000):
    session.poll(ticks_ms())
    if session.drops:
        break
    time.sleep_ms(5)
error = session.last_error
print(
    json.dumps(
        {
            "code": getattr(error, "code", repr(error)),
            "connected": client.connected,
            "received": received,
            "drops": session.drops,
        }
    )
)
