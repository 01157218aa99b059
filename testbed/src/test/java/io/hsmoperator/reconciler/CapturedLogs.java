package io.hsmoperator.reconciler;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/** Every log line the operator process writes during the tests (message, parameters and stack traces), for canary checks. */
final class CapturedLogs extends Handler {
    private static final int MAX = 200_000;
    private static final CapturedLogs INSTANCE = new CapturedLogs();
    private static volatile boolean installed;
    private final Deque<String> lines = new ArrayDeque<>();
    private final SimpleFormatter format = new SimpleFormatter();

    private CapturedLogs() {
        setLevel(Level.ALL);
    }

    /** Installs the handler on the root logger once; call it after Quarkus has configured logging. */
    static synchronized void install() {
        if (!installed) {
            Logger.getLogger("").addHandler(INSTANCE);
            installed = true;
        }
    }

    static String all() {
        synchronized (INSTANCE.lines) {
            return String.join("\n", INSTANCE.lines);
        }
    }

    /** The lines logged after the first {@code mark} (a {@link #count()} taken earlier), one record each. */
    static java.util.List<String> since(int mark) {
        synchronized (INSTANCE.lines) {
            return new java.util.ArrayList<>(INSTANCE.lines).subList(Math.min(mark, INSTANCE.lines.size()), INSTANCE.lines.size());
        }
    }

    static int count() {
        synchronized (INSTANCE.lines) {
            return INSTANCE.lines.size();
        }
    }

    @Override
    public void publish(LogRecord record) {
        StringBuilder line = new StringBuilder(record.getLoggerName() + " " + record.getLevel() + " " + format.formatMessage(record));
        if (record.getThrown() != null) {
            StringWriter w = new StringWriter();
            record.getThrown().printStackTrace(new PrintWriter(w));
            line.append('\n').append(w);
        }
        synchronized (lines) {
            lines.addLast(line.toString());
            if (lines.size() > MAX) {
                lines.removeFirst();
            }
        }
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
    }
}
