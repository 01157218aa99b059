package io.hsmoperator.azure;

import java.time.Duration;

/**
 * How long the operator assumes Azure's reads may lag its writes (usually seconds; the margin is generous). Within it, a
 * read that lacks what Azure answered before proves nothing; past it, what a read lacks is taken as gone.
 */
public final class Consistency {
    public static final Duration READ_LAG = Duration.ofMinutes(2);

    /**
     * How long after a backup or restore job started a read of its status may still answer 404: right after the start the
     * job's GET can miss it, and Azure gives no bound; only after this long does a 404 mean Azure forgot the job.
     */
    public static final Duration JOB_READ_LAG = Duration.ofMinutes(10);

    private Consistency() {
    }
}
