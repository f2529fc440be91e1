"""A real Apache Kafka (KRaft) on this machine, from Maven Central jars, without Docker.

Used by the tests, the demo, the benchmarks and ``scripts/kafka``. Contract:

1. :func:`resolve_jars` resolves ``org.apache.kafka:kafka_2.13`` (:data:`KAFKA_VERSION`) and its
   runtime dependencies, plus a Log4j2 SLF4J binding so the broker's logs are not lost, with
   Maven into a cache directory (``$DRIFTLINE_CACHE`` or ``~/.cache/driftline``). Done once; it
   says so on stderr while it runs (a line every 10 s: the first download takes a while).
2. :class:`LocalKafka` writes one ``server.properties`` per node (every node is broker and
   controller), formats KRaft storage with one cluster id, starts each node as a ``java``
   process on localhost ports (``ports`` when given and free, else free ones) and waits until
   the cluster answers a metadata request.
3. ``stop()`` sends SIGTERM and waits (SIGKILL after a bound); ``kill(node)`` is a hard
   ``kill -9``; ``restart(node)`` starts a node again on the same ports and log dir, without
   formatting (a hard bounce).

Missing Java or Maven raises :class:`ToolMissing` with one sentence saying what to install.

Command line (``scripts/kafka`` wraps it)::

    python -m driftline.dev.local_broker start [--nodes 3] [--dir DIR]   # prints bootstrap servers
    python -m driftline.dev.local_broker stop [--dir DIR]
    python -m driftline.dev.local_broker fetch                           # resolve the jars only

``--dir`` defaults to one directory per user and checkout (:func:`default_state_dir`). ``start``
refuses while the cluster recorded there still runs (its data is never deleted under it); a
stopped one is replaced by a fresh cluster on the ports it had, where they are still free.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from driftline.dev.services import free_port
from driftline.progress import Heartbeat

KAFKA_VERSION = "4.1.1"
#: Must match the log4j-core version that kafka_2.13 brings in (checked in resolve_jars).
LOG4J_VERSION = "2.24.3"
#: The checkout this module runs from: a state directory per checkout.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.driftline</groupId><artifactId>local-kafka</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class ToolMissing(RuntimeError):
    """A tool the local broker needs (Java, Maven) is not installed."""


class BrokerStartError(RuntimeError):
    """The broker did not come up; the message points at its log file."""


def cache_dir() -> Path:
    return Path(os.environ.get("DRIFTLINE_CACHE", Path.home() / ".cache" / "driftline"))


def default_state_dir(project: Path = PROJECT_ROOT) -> Path:
    """``scripts/kafka``'s cluster directory: per user (the cache) and per checkout.

    >>> default_state_dir(Path("/src/driftline")).parts[-2:]
    ('clusters', 'driftline-abb3bbc6')
    """
    digest = hashlib.sha1(str(project).encode()).hexdigest()[:8]
    return cache_dir() / "clusters" / f"{project.name}-{digest}"


def port_free(port: int) -> bool:
    """True if nothing listens on localhost ``port`` and it can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"`{tool}` not found on PATH: {hint}")
    return path


def resolve_jars(version: str = KAFKA_VERSION) -> Path:
    """Directory holding the broker's jars, resolved with Maven on first use."""
    libs = cache_dir() / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    _require("java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    mvn = _require("mvn", "install Apache Maven (Debian: apt-get install maven)")
    project = libs.parent
    project.mkdir(parents=True, exist_ok=True)
    (project / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
    if libs.exists():
        shutil.rmtree(libs)
    with Heartbeat(f"resolving Apache Kafka {version} and its dependencies with Maven into "
                   f"{libs} (once; later starts reuse them)"):
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            ],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise BrokerStartError(
            f"Maven could not resolve Apache Kafka {version}:\n{result.stdout}{result.stderr}"
        )
    cores = sorted(p.name for p in libs.glob("log4j-core-*.jar"))
    if cores != [f"log4j-core-{LOG4J_VERSION}.jar"]:
        raise BrokerStartError(f"log4j-core {cores} does not match binding {LOG4J_VERSION}")
    (project / "log4j2.properties").write_text(_LOG4J2)
    marker.touch()
    return libs


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    @property
    def properties(self) -> Path:
        return self.directory / "server.properties"


@dataclass
class LocalKafka:
    """A KRaft cluster of ``nodes`` combined broker+controller processes on localhost.

    ``directory`` holds each node's config, data and ``server.log``; it is created if missing.
    """

    directory: Path
    nodes: int = 1
    version: str = KAFKA_VERSION
    heap: str = "768m"
    members: list[Node] = field(default_factory=list)
    #: ``(port, controller port)`` per node to use when free (a restart keeps its ports).
    ports: list[tuple[int, int]] = field(default_factory=list)

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"localhost:{node.port}" for node in self.members)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 120.0) -> str:
        """Format storage and start every node; return the bootstrap servers."""
        libs = resolve_jars(self.version)
        self.directory.mkdir(parents=True, exist_ok=True)
        ids = range(1, self.nodes + 1)
        self.members = [Node(i, *self._ports(i), self.directory / f"node-{i}") for i in ids]
        cluster_id = self._java(libs, "kafka.tools.StorageTool", "random-uuid").strip()
        for node in self.members:
            node.directory.mkdir(parents=True, exist_ok=True)
            node.properties.write_text(self._server_properties(node))
            self._java(
                libs,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(node.properties),
            )
        for node in self.members:
            self._launch(libs, node)
        self._wait_ready(timeout_s)
        self._write_state()
        return self.bootstrap_servers

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM every node, SIGKILL what is still running after ``timeout_s``."""
        for node in self.members:
            self._signal(node, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for node in self.members:
            while self._alive(node) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self._alive(node):
                self._signal(node, signal.SIGKILL)
            self._reap(node)

    def kill(self, node_id: int) -> None:
        """Hard-kill one node (``kill -9``)."""
        node = self.members[node_id - 1]
        self._signal(node, signal.SIGKILL)
        self._reap(node)

    def restart(self, node_id: int, timeout_s: float = 120.0) -> None:
        """Start a stopped or killed node again on the same ports and data, no formatting."""
        node = self.members[node_id - 1]
        self._launch(resolve_jars(self.version), node)
        self._wait_ready(timeout_s)

    def running(self) -> list[int]:
        """Node ids whose recorded process is still this cluster's broker."""
        return [node.node_id for node in self.members if self._alive(node)]

    # -- internals ---------------------------------------------------------------------------

    def _ports(self, node_id: int) -> tuple[int, int]:
        wanted = self.ports[node_id - 1] if node_id <= len(self.ports) else None
        if wanted is not None and all(port_free(p) for p in wanted):
            return wanted
        return free_port(), free_port()

    def _server_properties(self, node: Node) -> str:
        replicas = min(3, self.nodes)
        min_isr = 2 if replicas >= 3 else 1
        voters = ",".join(f"{n.node_id}@localhost:{n.controller_port}" for n in self.members)
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://localhost:{node.port},"
            f"CONTROLLER://localhost:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://localhost:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.directory / "data"),
            "num.partitions": 1,
            "auto.create.topics.enable": "false",
            "default.replication.factor": replicas,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": 10,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": 0,
            "log.cleaner.backoff.ms": 1000,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java_command(self, libs: Path, main: str, *args: str) -> list[str]:
        log_config = libs.parent / "log4j2.properties"
        return [
            "java",
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log_config}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _java(self, libs: Path, main: str, *args: str) -> str:
        result = subprocess.run(
            self._java_command(libs, main, *args), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BrokerStartError(f"{main} {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def _launch(self, libs: Path, node: Node) -> None:
        with node.log_file.open("ab") as log:
            node.process = subprocess.Popen(
                self._java_command(libs, "kafka.Kafka", str(node.properties)),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node.pid = node.process.pid

    def _wait_ready(self, timeout_s: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout_s
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        while time.monotonic() < deadline:
            for node in self.members:
                if node.process is not None and node.process.poll() is not None:
                    raise BrokerStartError(
                        f"Kafka node {node.node_id} exited with {node.process.returncode}; "
                        f"see {node.log_file}"
                    )
            try:
                metadata = admin.list_topics(timeout=2)
                if len(metadata.brokers) == len(self.members):
                    return
            except Exception:  # the broker is not up yet; librdkafka says so
                pass
            time.sleep(0.2)
        raise BrokerStartError(
            f"Kafka did not answer within {timeout_s:.0f}s; see {self.directory}/node-*/server.log"
        )

    def _alive(self, node: Node) -> bool:
        if node.process is not None:
            return node.process.poll() is None
        if node.pid is None:
            return False
        try:
            os.kill(node.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return False  # another user's process: the pid was reused
        cmdline = Path(f"/proc/{node.pid}/cmdline")
        if cmdline.exists():  # Linux: a reused pid is not this node's broker
            with contextlib.suppress(OSError):
                return str(node.properties).encode() in cmdline.read_bytes()
        return True

    def _signal(self, node: Node, sig: signal.Signals) -> None:
        if self._alive(node) and node.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(node.pid, sig)

    def _reap(self, node: Node) -> None:
        if node.process is not None:
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()

    def _write_state(self) -> None:
        state = {
            "bootstrap_servers": self.bootstrap_servers,
            "nodes": [
                {
                    "node_id": n.node_id,
                    "port": n.port,
                    "controller_port": n.controller_port,
                    "pid": n.pid,
                    "directory": str(n.directory),
                }
                for n in self.members
            ],
        }
        (self.directory / "cluster.json").write_text(json.dumps(state, indent=2))

    @classmethod
    def from_state(cls, directory: Path) -> LocalKafka:
        """Reattach to a cluster started by another process (``scripts/kafka stop``)."""
        state = json.loads((directory / "cluster.json").read_text())
        cluster = cls(directory=directory, nodes=len(state["nodes"]))
        cluster.members = [
            Node(n["node_id"], n["port"], n["controller_port"], Path(n["directory"]), pid=n["pid"])
            for n in state["nodes"]
        ]
        return cluster


def start_cluster(directory: Path, nodes: int) -> int:
    """``scripts/kafka start``: refuse while the recorded cluster runs; else a fresh cluster on
    its recorded ports where free."""
    ports: list[tuple[int, int]] = []
    if (directory / "cluster.json").exists():
        previous = LocalKafka.from_state(directory)
        running = previous.running()
        if running:
            print(f"error: the Kafka cluster in {directory} is still running (nodes "
                  f"{', '.join(map(str, running))}; bootstrap servers "
                  f"{previous.bootstrap_servers}); its data is kept. Use it, or stop it first: "
                  f"scripts/kafka stop --dir {directory}", file=sys.stderr)
            return 1
        ports = [(n.port, n.controller_port) for n in previous.members]
        shutil.rmtree(directory)
    began = time.monotonic()
    cluster = LocalKafka(directory=directory, nodes=nodes, ports=ports)
    bootstrap = cluster.start()
    kept = sum(1 for n in cluster.members if (n.port, n.controller_port) in ports)
    print(
        f"Kafka {KAFKA_VERSION} up in {time.monotonic() - began:.1f}s (logs in {directory}"
        + (f"; the previous ports of {kept} node(s) reused" if kept else "")
        + "); bootstrap servers:",
        file=sys.stderr,
    )
    print(bootstrap)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/kafka", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    state_help = "cluster state, data and logs (default: one per user and checkout)"
    start = sub.add_parser("start", help="format storage and start a local cluster")
    start.add_argument("--nodes", type=int, default=1, help="1 (default) or 3")
    start.add_argument("--dir", type=Path, default=default_state_dir(), help=state_help)
    stop = sub.add_parser("stop", help="stop the cluster started with `start`")
    stop.add_argument("--dir", type=Path, default=default_state_dir(), help=state_help)
    sub.add_parser("fetch", help="resolve the Kafka jars with Maven only")
    args = parser.parse_args(argv)
    try:
        if args.action == "fetch":
            print(resolve_jars())
        elif args.action == "start":
            return start_cluster(args.dir, args.nodes)
        elif args.action == "stop":
            if not (args.dir / "cluster.json").exists():
                print(f"no cluster state in {args.dir}", file=sys.stderr)
                return 1
            LocalKafka.from_state(args.dir).stop()
    except (ToolMissing, BrokerStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
