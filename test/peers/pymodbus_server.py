#!/usr/bin/python3
"""A Modbus slave with a known register layout, served by Debian's python3-pymodbus (3.0.x API).

Used by the edge Modbus driver tests as an independent implementation of the protocol:

    /usr/bin/python3 test/peers/pymodbus_server.py tcp PORT            # PORT 0 picks a free one
    /usr/bin/python3 test/peers/pymodbus_server.py rtu PATH [BAUD]     # serial path, e.g. a socat pty

Prints one line `READY tcp <port>` or `READY rtu <path>` on stdout once it serves, then runs until
SIGTERM/SIGINT or stdin closes. Units 1 and 2 are served with the same layout (unit 2 holding
register 1 differs so tests can tell them apart); other unit ids get no answer
at all, like a dead slave on a bus.

Layout (0-based protocol addresses, every table zero_mode):
  holding 0      int16   -123
  holding 1      uint16  5000 (unit 2: 6000)
  holding 2..3   int32   -100000            (big-endian words)
  holding 4..5   uint32  3000000000
  holding 6..7   float32 21.5
  holding 8..11  float64 1234.5678
  holding 12..15 string  "SWG-TEST"
  holding 16     bits    0b0000000000000101
  holding 17..19 scratch 0 (write tests)
  holding 20..99 absent  -> ILLEGAL DATA ADDRESS (2)
  holding 100..103 present (values 100..103)
  input   0..1   float32 -40.25
  input   2      int16   -1
  input   3..9   0..6
  coils   0..7   1,0,1,1,0,0,0,0
  discrete 0..7  0,1,0,0,0,0,0,1
"""
import asyncio
import signal
import struct
import sys

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
    ModbusSparseDataBlock,
)
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer


def words(fmt, value):
    raw = struct.pack(">" + fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def holding_values(unit):
    values = []
    values += words("h", -123)
    values += [5000 if unit == 1 else 6000]
    values += words("i", -100000)
    values += words("I", 3000000000)
    values += words("f", 21.5)
    values += words("d", 1234.5678)
    values += [int.from_bytes(b"SWG-TEST"[i : i + 2], "big") for i in range(0, 8, 2)]
    values += [0b101, 0, 0, 0]
    assert len(values) == 20
    table = {address: value for address, value in enumerate(values)}
    for address in range(100, 104):
        table[address] = address
    return table


def make_unit(unit):
    inputs = words("f", -40.25) + words("h", -1) + list(range(7))
    return ModbusSlaveContext(
        hr=ModbusSparseDataBlock(holding_values(unit)),
        ir=ModbusSequentialDataBlock(0, inputs),
        co=ModbusSequentialDataBlock(0, [True, False, True, True, False, False, False, False]),
        di=ModbusSequentialDataBlock(0, [False, True, False, False, False, False, False, True]),
        zero_mode=True,
    )


def make_context():
    return ModbusServerContext(slaves={1: make_unit(1), 2: make_unit(2)}, single=False)


async def wait_for_stop():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # The parent closing our stdin (or dying) also stops us, so no orphan keeps a port open.
    def on_stdin():
        if not sys.stdin.buffer.read1(1024):
            stop.set()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    await stop.wait()


async def serve_tcp(port):
    # allow_reuse_address: tests restart the peer on the same port to simulate a device coming back.
    server = ModbusTcpServer(
        make_context(), address=("127.0.0.1", port), allow_reuse_address=True, ignore_missing_slaves=False
    )
    task = asyncio.create_task(server.serve_forever())
    await asyncio.wait({task, server.serving}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        print(f"cannot serve on 127.0.0.1:{port}: {task.exception()}", file=sys.stderr, flush=True)
        sys.exit(1)
    bound = server.server.sockets[0].getsockname()[1]
    print(f"READY tcp {bound}", flush=True)
    await wait_for_stop()
    await server.server_close()
    task.cancel()


async def serve_rtu(path, baud):
    server = ModbusSerialServer(
        make_context(),
        framer=ModbusRtuFramer,
        port=path,
        baudrate=baud,
        ignore_missing_slaves=True,
    )
    await server.start()
    print(f"READY rtu {path}", flush=True)
    await wait_for_stop()
    await server.shutdown()


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("tcp", "rtu"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] == "tcp":
        asyncio.run(serve_tcp(int(sys.argv[2])))
    else:
        baud = int(sys.argv[3]) if len(sys.argv) > 3 else 9600
        asyncio.run(serve_rtu(sys.argv[2], baud))


if __name__ == "__main__":
    main()
