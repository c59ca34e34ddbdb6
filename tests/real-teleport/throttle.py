#!/usr/bin/env python3
"""A loopback TCP relay that can slow the server-to-client direction, so that a client can be
stopped in the middle of a stream that would otherwise finish in a blink, and can cut every open
connection on demand, so that a client must dial again (as after a network blip or a proxy
restart) while the cluster keeps running.

Usage: throttle.py TARGET_PORT BYTES_PER_SECOND
Listens on a free port of 127.0.0.1, prints it on the first line of stdout, and relays every
connection to 127.0.0.1:TARGET_PORT until it is killed. BYTES_PER_SECOND 0 relays at full speed.
SIGUSR1 closes every connection open at that moment (new ones are still accepted).
"""
import asyncio
import signal
import sys


async def pipe(reader, writer, rate):
    try:
        while True:
            data = await reader.read(4096)
            if not data:
                break
            writer.write(data)
            await writer.drain()
            if rate:
                await asyncio.sleep(len(data) / rate)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(target, rate):
    open_tasks = set()

    async def relay(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(pipe(client_reader, server_writer, 0), pipe(server_reader, client_writer, rate))
        finally:
            client_writer.close()
            server_writer.close()

    async def handle(client_reader, client_writer):
        task = asyncio.current_task()
        open_tasks.add(task)
        try:
            await relay(client_reader, client_writer)
        except asyncio.CancelledError:
            # Cut: reset the client's side at once, as a dropped connection would.
            client_writer.transport.abort()
        finally:
            open_tasks.discard(task)

    def cut_all():
        for task in list(open_tasks):
            task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, cut_all)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
