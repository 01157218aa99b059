package io.hsmoperator.e2e;

import java.util.List;
import java.util.Locale;

/** The benchmark's two charts as plain SVG: cost against drift latency per strategy, and time to Ready against N. */
final class Charts {
    private static final int W = 640;
    private static final int H = 400;
    private static final int LEFT = 70;
    private static final int BOTTOM = 50;
    private static final int TOP = 40;
    private static final int RIGHT = 20;
    private static final String[] COLOURS = {"#1b7837", "#2166ac", "#b2182b"};

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
            svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                    + "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>%n", LEFT + 150, TOP + 10 + legend * 18, COLOURS[i], LEFT + 165,
                    TOP + 19 + legend * 18, escape(KeyScaleBench.STRATEGIES.get(i).name())));
            legend++;
        }
        return svg.append("</svg>\n").toString();
    }

    /** Seconds from apply to all Ready (y) against the number of keys (x). */
    static String timeToReady(List<KeyScaleBench.Result> results) {
        double maxX = nice(results.stream().mapToInt(KeyScaleBench.Result::n).max().orElse(1));
        double maxY = nice(results.stream().mapToDouble(r -> r.toReady().toMillis() / 1000.0).max().orElse(1));
        StringBuilder svg = frame("Apply to all Ready (one HSM, creation limit raised)", "HsmKeys", "seconds", maxX, maxY);
        String previous = null;
        for (KeyScaleBench.Result r : results) {
            double x = x(r.n(), maxX);
            double y = y(r.toReady().toMillis() / 1000.0, maxY);
            if (previous != null) {
                svg.append(String.format(Locale.ROOT, "<line %s x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>%n", previous, x, y,
                        COLOURS[1]));
            }
            svg.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>%n", x, y, COLOURS[1]));
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%.0f s</text>%n", x + 8, y - 6,
                    r.toReady().toMillis() / 1000.0));
            previous = String.format(Locale.ROOT, "x1=\"%.1f\" y1=\"%.1f\"", x, y);
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
