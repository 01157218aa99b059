package io.hsmoperator.e2e;

import java.util.List;
import java.util.Locale;

/**
 * The benchmark's charts as plain SVG: cost against drift latency per strategy, time to Ready against N, and a restart's
 * first pass against N; each with this benchmark's figures before issue 25 ({@link KeyScaleBench#BEFORE}) in grey.
 */
final class Charts {
    private static final int W = 640;
    private static final int H = 400;
    private static final int LEFT = 70;
    private static final int BOTTOM = 50;
    private static final int TOP = 40;
    private static final int RIGHT = 20;
    private static final String[] COLOURS = {"#1b7837", "#2166ac", "#b2182b"};
    private static final String BEFORE = "#999999";

    private Charts() {
    }

    /** Steady-state Azure calls per key per hour (x) against drift latency in minutes (y), one marker per strategy and N. */
    static String costVersusLatency(List<KeyScaleBench.Result> results) {
        double maxX = 0;
        double maxY = 0;
        for (KeyScaleBench.Result r : results) {
            for (KeyScaleBench.Steady s : r.steady()) {
                maxX = Math.max(maxX, s.callsPerKeyHour());
                maxY = Math.max(maxY, minutes(s));
            }
        }
        for (KeyScaleBench.Result r : results) {
            for (KeyScaleBench.Before b : KeyScaleBench.before(r.n()).stream().toList()) {
                maxX = Math.max(maxX, b.ourCallsPerKeyHour());
                maxY = Math.max(maxY, b.ourDriftMinutes());
            }
        }
        maxX = nice(maxX);
        maxY = nice(maxY);
        StringBuilder svg = frame("Steady state: Azure calls per key per hour against drift latency", "Azure calls per key per hour",
                "drift seen after (minutes)", maxX, maxY);
        int legend = 0;
        for (int i = 0; i < KeyScaleBench.STRATEGIES.size(); i++) {
            for (KeyScaleBench.Result r : results) {
                if (i >= r.steady().size()) {
                    continue;
                }
                KeyScaleBench.Steady s = r.steady().get(i);
                double x = x(s.callsPerKeyHour(), maxX);
                double y = y(minutes(s), maxY);
                svg.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\"/>%n", x, y, COLOURS[i]));
                svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">N=%,d</text>%n", x + 8, y - 6, r.n()));
            }
            svg.append(legend(legend, COLOURS[i], KeyScaleBench.STRATEGIES.get(i).name()));
            legend++;
        }
        for (KeyScaleBench.Result r : results) {
            for (KeyScaleBench.Before b : KeyScaleBench.before(r.n()).stream().toList()) {
                double x = x(b.ourCallsPerKeyHour(), maxX);
                double y = y(b.ourDriftMinutes(), maxY);
                svg.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>%n",
                        x, y, BEFORE));
                svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\">N=%,d</text>%n", x + 8, y + 14,
                        BEFORE, r.n()));
            }
        }
        svg.append(legend(legend, BEFORE, "hsm-operator before issue 25"));
        return svg.append("</svg>\n").toString();
    }

    private static String legend(int row, String colour, String text) {
        return String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                + "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>%n", LEFT + 150, TOP + 10 + row * 18, colour, LEFT + 165,
                TOP + 19 + row * 18, escape(text));
    }

    /** A polyline with a labelled marker at each point. */
    private static void series(StringBuilder svg, List<double[]> points, double maxX, double maxY, String colour, String unit) {
        String previous = null;
        for (double[] p : points) {
            double x = x(p[0], maxX);
            double y = y(p[1], maxY);
            if (previous != null) {
                svg.append(String.format(Locale.ROOT, "<line %s x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>%n", previous, x, y, colour));
            }
            svg.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>%n", x, y, colour));
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"%s\">%.0f %s</text>%n", x + 8, y - 6, colour,
                    p[1], unit));
            previous = String.format(Locale.ROOT, "x1=\"%.1f\" y1=\"%.1f\"", x, y);
        }
    }

    /** A restarted operator's first pass in seconds (y) against N (x), now and before issue 25. */
    static String restart(List<KeyScaleBench.Result> results) {
        return nowAndBefore(results, r -> r.restart().firstPass().toMillis() / 1000.0, KeyScaleBench.Before::firstPassSeconds,
                "A restarted operator's first pass (converged keys)", COLOURS[0], "before issue 25 (every key read)", null);
    }

    /**
     * Seconds from apply to all Ready (y) against the number of keys (x), now and before issue 25, and the floor: applying
     * the same keys with no operator running.
     */
    static String timeToReady(List<KeyScaleBench.Result> results) {
        return nowAndBefore(results, r -> r.toReady().toMillis() / 1000.0, KeyScaleBench.Before::toReadySeconds,
                "Apply to all Ready (creation limit raised; two HSMs from 5,001 keys)", COLOURS[1], "before issue 25",
                r -> r.applyAlone().toMillis() / 1000.0);
    }

    /**
     * Seconds (y) against N (x): this run's figure per N, this benchmark's before issue 25 in grey and, when {@code floor}
     * is given, what the figure cannot go below on this machine.
     */
    private static String nowAndBefore(List<KeyScaleBench.Result> results, java.util.function.ToDoubleFunction<KeyScaleBench.Result> figure,
            java.util.function.ToDoubleFunction<KeyScaleBench.Before> before, String title, String colour, String beforeLabel,
            java.util.function.ToDoubleFunction<KeyScaleBench.Result> floor) {
        List<double[]> now = results.stream().map(r -> new double[] {r.n(), figure.applyAsDouble(r)}).toList();
        List<double[]> was = results.stream().flatMap(r -> KeyScaleBench.before(r.n()).stream())
                .map(b -> new double[] {b.n(), before.applyAsDouble(b)}).toList();
        List<double[]> under = floor == null ? List.of() : results.stream().map(r -> new double[] {r.n(), floor.applyAsDouble(r)}).toList();
        double maxX = nice(results.stream().mapToInt(KeyScaleBench.Result::n).max().orElse(1));
        double maxY = nice(java.util.stream.Stream.of(now, was, under).flatMap(List::stream).mapToDouble(p -> p[1]).max().orElse(1));
        StringBuilder svg = frame(title, "HsmKeys", "seconds", maxX, maxY);
        series(svg, was, maxX, maxY, BEFORE, "s");
        series(svg, under, maxX, maxY, COLOURS[2], "s");
        series(svg, now, maxX, maxY, colour, "s");
        svg.append(legend(0, colour, "hsm-operator")).append(legend(1, BEFORE, beforeLabel));
        if (floor != null) {
            svg.append(legend(2, COLOURS[2], "applying the keys alone (no operator running)"));
        }
        return svg.append("</svg>\n").toString();
    }

    private static StringBuilder frame(String title, String xLabel, String yLabel, double maxX, double maxY) {
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\">%n", W, H));
        svg.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", W, H));
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"22\" font-size=\"14\" font-weight=\"bold\">%s</text>%n", LEFT, escape(title)));
        svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n", LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM));
        svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n", LEFT, TOP, LEFT, H - BOTTOM));
        for (int i = 0; i <= 4; i++) {
            double vx = maxX * i / 4;
            double vy = maxY * i / 4;
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>%n", x(vx, maxX),
                    H - BOTTOM + 16, label(vx)));
            svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>%n", LEFT - 6,
                    y(vy, maxY) + 4, label(vy)));
            svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>%n", LEFT, y(vy, maxY),
                    W - RIGHT, y(vy, maxY)));
        }
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>%n",
                (LEFT + W - RIGHT) / 2, H - 12, escape(xLabel)));
        svg.append(String.format(Locale.ROOT, "<text x=\"16\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">%s</text>%n",
                (TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2, escape(yLabel)));
        return svg;
    }

    private static double minutes(KeyScaleBench.Steady s) {
        return s.driftLatency().toMillis() / 60000.0;
    }

    private static double x(double v, double max) {
        return LEFT + (W - LEFT - RIGHT) * v / max;
    }

    private static double y(double v, double max) {
        return H - BOTTOM - (H - BOTTOM - TOP) * v / max;
    }

    /** The next of 1, 2, 2.5, 5 times a power of ten at or above {@code v}, so the axis ends on a round number. */
    private static double nice(double v) {
        if (v <= 0) {
            return 1;
        }
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 2, 2.5, 5, 10}) {
            if (m * p >= v) {
                return m * p;
            }
        }
        return 10 * p;
    }

    private static String label(double v) {
        return v == Math.rint(v) ? String.format(Locale.ROOT, "%,.0f", v) : String.format(Locale.ROOT, "%.2f", v);
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
