package io.hsmoperator.emulator;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Azure's reads lag its writes: for a while after an update, a GET may answer what was there before. The emulator keeps
 * the view of an object as it was before its last update, and answers reads with it until the window has passed.
 */
final class StaleReads {
    private record Before(ObjectNode view, long untilMillis) {
    }

    private final Map<String, Before> before = new ConcurrentHashMap<>();
    private final Map<String, Long> unseenUntil = new ConcurrentHashMap<>();
    private final Supplier<Duration> windows;

    /** {@code window} says how long reads lag at the moment of each write (a test may lengthen it, see Controls). */
    StaleReads(Supplier<Duration> window) {
        this.windows = window;
    }

    /** Remembers how {@code what} read before the update about to be applied (null when it did not exist). */
    void beforeUpdate(String what, ObjectNode view) {
        Duration window = windows.get();
        if (!window.isZero() && view != null) {
            before.put(what, new Before(view.deepCopy(), System.currentTimeMillis() + window.toMillis()));
        }
    }

    /** Marks {@code what} as created just now: a read of it answers 404, a list leaves it out, until the window has passed. */
    void created(String what) {
        Duration window = windows.get();
        if (!window.isZero()) {
            unseenUntil.put(what, System.currentTimeMillis() + window.toMillis());
        }
    }

    /** Whether reads do not show {@code what} yet (see {@link #created}). */
    boolean unseen(String what) {
        Long until = unseenUntil.get(what);
        if (until == null) {
            return false;
        }
        if (until <= System.currentTimeMillis()) {
            unseenUntil.remove(what, until);
            return false;
        }
        return true;
    }

    /**
     * When an operation Azure completes in the background (recovering a deleted key), started now, becomes visible to
     * reads: until then they answer 404.
     */
    long visibleAtMillis() {
        return System.currentTimeMillis() + windows.get().toMillis();
    }

    /** The view a read of {@code what} answers while its last update is not yet visible. */
    Optional<ObjectNode> read(String what) {
        Before b = before.get(what);
        if (b == null) {
            return Optional.empty();
        }
        if (b.untilMillis() <= System.currentTimeMillis()) {
            before.remove(what, b);
            return Optional.empty();
        }
        return Optional.of(b.view().deepCopy());
    }
}
