package dev.pgmemo.proxy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Relay counters. Hot-path counts (bytes and messages) are LongAdders read by Micrometer function counters,
 * so a relayed message costs one uncontended add.
 */
public final class ProxyMetrics {
    final AtomicInteger clientConnectionsOpen = new AtomicInteger();
    final Counter clientConnectionsTotal;
    final Counter upstreamConnectErrors;
    final Counter protocolErrors;
    final Counter cancelRequests;
    final LongAdder bytesFromClients = new LongAdder();
    final LongAdder bytesFromUpstream = new LongAdder();
    final LongAdder messagesFromClients = new LongAdder();
    final LongAdder messagesFromUpstream = new LongAdder();

    public ProxyMetrics(MeterRegistry registry) {
        Gauge.builder("pgmemo_client_connections_open", clientConnectionsOpen, AtomicInteger::get)
                .description("Client connections currently open").register(registry);
        clientConnectionsTotal = Counter.builder("pgmemo_client_connections")
                .description("Client connections accepted").register(registry);
        upstreamConnectErrors = Counter.builder("pgmemo_upstream_connect_errors")
                .description("Failed connection attempts to the upstream PostgreSQL").register(registry);
        protocolErrors = Counter.builder("pgmemo_protocol_errors")
                .description("Connections closed because of malformed protocol input").register(registry);
        cancelRequests = Counter.builder("pgmemo_cancel_requests")
                .description("CancelRequests forwarded upstream").register(registry);
        FunctionCounter.builder("pgmemo_bytes", bytesFromClients, LongAdder::sum).tag("direction", "client_to_upstream")
                .baseUnit("bytes").description("Protocol bytes relayed").register(registry);
        FunctionCounter.builder("pgmemo_bytes", bytesFromUpstream, LongAdder::sum).tag("direction", "upstream_to_client")
                .baseUnit("bytes").description("Protocol bytes relayed").register(registry);
        FunctionCounter.builder("pgmemo_messages", messagesFromClients, LongAdder::sum).tag("direction", "client_to_upstream")
                .description("Protocol messages relayed").register(registry);
        FunctionCounter.builder("pgmemo_messages", messagesFromUpstream, LongAdder::sum).tag("direction", "upstream_to_client")
                .description("Protocol messages relayed").register(registry);
    }

    public int openConnections() {
        return clientConnectionsOpen.get();
    }
}
