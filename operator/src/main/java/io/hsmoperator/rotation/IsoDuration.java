package io.hsmoperator.rotation;

import java.time.Duration;
import java.time.Instant;
import java.time.Period;
import java.time.ZoneOffset;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ISO-8601 durations as the API takes them (P90D, P1Y, P6M, P2W, PT12H, P1Y2M3DT4H): years and months count in calendar
 * time (P1Y from 29 February is 28 February), the rest exactly. The one parser of durations in the operator.
 */
public record IsoDuration(Period period, Duration time, String text) {
    private static final Pattern ISO = Pattern.compile("^P(?:(\\d+)Y)?(?:(\\d+)M)?(?:(\\d+)W)?(?:(\\d+)D)?(?:T(?:(\\d+)H)?(?:(\\d+)M)?(?:(\\d+)S)?)?$");

    /** The duration, or null when {@code text} is not an ISO-8601 duration of at least one unit. */
    public static IsoDuration parse(String text) {
        if (text == null) {
            return null;
        }
        Matcher m = ISO.matcher(text.trim());
        if (!m.matches() || text.trim().equals("P") || text.trim().endsWith("T")) {
            return null;
        }
        try {
            Period p = Period.of(num(m.group(1)), num(m.group(2)), num(m.group(3)) * 7 + num(m.group(4)));
            Duration d = Duration.ofHours(num(m.group(5))).plusMinutes(num(m.group(6))).plusSeconds(num(m.group(7)));
            return new IsoDuration(p, d, text.trim());
        } catch (ArithmeticException | NumberFormatException e) {
            return null;
        }
    }

    public Instant addTo(Instant t) {
        return t.atZone(ZoneOffset.UTC).plus(period).plus(time).toInstant();
    }

    public Instant subtractFrom(Instant t) {
        return t.atZone(ZoneOffset.UTC).minus(period).minus(time).toInstant();
    }

    /** The shortest length this duration can have (a month counts 28 days, a year 365): for minimum-length rules. */
    public Duration atLeast() {
        return Duration.ofDays(period.getYears() * 365L + period.getMonths() * 28L + period.getDays()).plus(time);
    }

    /** The longest length it can have (a month 31 days, a year 366): for maximum-length rules. */
    public Duration atMost() {
        return Duration.ofDays(period.getYears() * 366L + period.getMonths() * 31L + period.getDays()).plus(time);
    }

    private static int num(String g) {
        return g == null ? 0 : Integer.parseInt(g);
    }

    @Override
    public String toString() {
        return text;
    }
}
