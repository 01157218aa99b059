package io.hsmoperator.emulator;

import java.time.Duration;
import java.time.Period;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** ISO-8601 durations as rotation policies write them (P90D, P1Y, P6M, P1Y2M3DT4H...). */
final class Durations {
    private static final Pattern ISO = Pattern.compile("^P(?!$)(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$");

    private Durations() {
    }

    static boolean valid(String s) {
        return s != null && ISO.matcher(s).matches();
    }

    /** Adds the duration to an epoch-seconds instant, calendar-aware for years and months. */
    static long plus(long epochSeconds, String iso) {
        Matcher m = ISO.matcher(iso);
        if (!m.matches()) {
            throw ApiException.badParameter("Invalid ISO-8601 duration: '" + iso + "'");
        }
        java.time.ZonedDateTime t = java.time.Instant.ofEpochSecond(epochSeconds).atZone(java.time.ZoneOffset.UTC);
        t = t.plus(Period.of(num(m.group(1)), num(m.group(2)), num(m.group(3)) * 7 + num(m.group(4))));
        t = t.plus(Duration.ofHours(num(m.group(6))).plusMinutes(num(m.group(7))).plusSeconds(num(m.group(8))));
        return t.toEpochSecond();
    }

    static long minus(long epochSeconds, String iso) {
        return epochSeconds - (plus(epochSeconds, iso) - epochSeconds);
    }

    /** Length in seconds measured from the epoch (a stable yardstick for minimum-length checks). */
    static long seconds(String iso) {
        return plus(0, iso);
    }

    private static int num(String g) {
        return g == null ? 0 : Integer.parseInt(g.replaceAll("\\D", ""));
    }
}
