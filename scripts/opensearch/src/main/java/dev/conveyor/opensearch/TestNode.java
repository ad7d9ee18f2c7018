package dev.conveyor.opensearch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * One OpenSearch node for tests, run from Maven Central's jars with the
 * plugins on the classpath (no distribution, no plugin folder). Node's
 * constructor that takes classpath plugins is protected, hence the subclass.
 *
 * <p>Usage: {@code TestNode HOME PORT_FILE [HTTP_PORT]}. HOME holds the data
 * ({@code HOME/data}); HTTP_PORT 0 (the default) binds a free port. Once the
 * node has started, set {@code cluster.default_number_of_replicas: 0} and
 * reached yellow health, the bound HTTP port is written to PORT_FILE
 * (atomically, so a reader never sees half of it). SIGTERM closes the node
 * cleanly.
 */
public final class TestNode extends Node {
    private static final List<Class<? extends Plugin>> PLUGINS = List.of(Netty4Plugin.class, CommonAnalysisPlugin.class);

    private TestNode(Settings settings) {
        super(InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), null, () -> "conveyor-test"),
            PLUGINS, true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: TestNode HOME PORT_FILE [HTTP_PORT]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path portFile = Path.of(args[1]).toAbsolutePath();
        String httpPort = args.length == 3 ? args[2] : "0";
        Settings settings = Settings.builder()
            .put("cluster.name", "conveyor-test")
            .put("node.name", "conveyor-test")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", "0")
            // Test machines often have little free disk: never turn indices read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // Count requests, not heap in use: with a small heap the real-memory
            // breaker answers 429 to bulk loads whenever garbage piles up.
            .put("indices.breaker.total.use_real_memory", false)
            .build();

        TestNode node = new TestNode(settings);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
            } catch (IOException | InterruptedException e) {
                System.err.println("closing the node: " + e);
            }
        }, "conveyor-test-node-close"));
        node.start();

        // One node holds no replicas: without this every new index stays
        // yellow. As a node setting it is ignored; as a persistent cluster
        // setting it holds for every index created later (and survives
        // restarts, which apply it again harmlessly).
        node.client().admin().cluster().prepareUpdateSettings()
            .setPersistentSettings(Settings.builder().put("cluster.default_number_of_replicas", 0))
            .get(TimeValue.timeValueSeconds(30));
        // After a restart: ready means every primary is assigned again, so the
        // documents written before it can be read.
        ClusterHealthResponse health = node.client().admin().cluster().prepareHealth()
            .setWaitForYellowStatus().setTimeout(TimeValue.timeValueSeconds(60)).get();
        if (health.isTimedOut()) {
            throw new IllegalStateException("cluster health is " + health.getStatus() + " after 60s, want yellow or green");
        }

        int port = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
        Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
        Files.writeString(tmp, port + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, portFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

        // The node's threads are daemons: this (non-daemon) main thread keeps
        // the JVM alive until a signal runs the shutdown hook.
        new CountDownLatch(1).await();
    }
}
