package io.hsmoperator.azure;

import java.time.Duration;

/**
 * How long the operator assumes Azure's reads may lag its writes (usually seconds; the margin is generous). Within it, a
 * read that lacks what Azure answered before proves nothing; past it, what a read lacks is taken as gone.
 */
public final class Consistency {
    public static final Duration READ_LAG = Duration.ofMinutes(2);

    private Consistency() {
    }
}
