"""Cost of the HTTP status server on the unix port: an idle poll, and one /api/status request end to end.

The client is a socket in the same process on loopback, so the figure is the server's work plus the
kernel's loopback; on the ESP32 the WiFi stack adds its own time, none of it inside poll().
"""

import socket
import time

import allocs
import fleet
import http_status
import plant_status
import reading
from compat import ticks_diff, ticks_ms, ticks_us

PORT = 18080 + ticks_us() % 1000
ROUNDS = 200

grid = reading.Reading()
table = fleet.Fleet(4)
for row in range(4):
    table.add(row, 800)
status = plant_status.PlantStatus(grid, table)
server = http_status.StatusServer(status.snapshot, lambda watts: None, {}.get, port=PORT, host="127.0.0.1")
address = socket.getaddrinfo("127.0.0.1", PORT)[0][-1]
REQUEST = b"GET /api/status HTTP/1.1\r\nHost: gateway\r\n\r\n"
answer = bytearray(4096)


def idle():
    server.poll(0)


def request():
    client = socket.socket()
    client.connect(address)
    client.send(REQUEST)
    polls = 0
    while server.poll(ticks_ms()):
        polls += 1
    client.setblocking(False)
    got = 0
    for _ in range(100):
        count = client.readinto(answer)
        if count:
            got += count
        elif count == 0:
            break
        else:
            time.sleep_ms(1)
    client.close()
    return polls, got


start = ticks_us()
for _ in range(20000):
    idle()
idle_ns = ticks_diff(ticks_us(), start) * 1000 // 20000
print("idle poll: %d ns, %d bytes allocated per 1000" % (idle_ns, allocs.measure(idle, 1000).bytes_allocated))

polls, got = request()
start = ticks_us()
for _ in range(ROUNDS):
    request()
request_us = ticks_diff(ticks_us(), start) // ROUNDS
report = allocs.measure(request, 20)
print(
    "GET /api/status (4 inverters, %d bytes answered, %d busy polls): %d us per request with the client,"
    " %d bytes allocated per request (server and client)" % (got, polls, request_us, report.bytes_allocated // 20)
)
server.close()
