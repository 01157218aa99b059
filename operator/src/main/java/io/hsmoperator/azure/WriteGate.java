package io.hsmoperator.azure;

import jakarta.annotation.Priority;
import jakarta.interceptor.AroundInvoke;
import jakarta.interceptor.Interceptor;
import jakarta.interceptor.InvocationContext;

import java.util.function.Supplier;

/**
 * Withholds the Azure writes of a reconcile whose writes Azure has refused for good (a 400, a 409 on an immutable
 * property, a 403 that outlasted propagation), until the resource's spec changes: sending the same refused write again
 * every few minutes, forever, changes nothing in Azure and fills its logs. Reads go on, so the resource still reports
 * what Azure holds. Checked on the reconcile's own thread, before the adapter method builds its request.
 */
@AzureWrite
@Interceptor
@Priority(Interceptor.Priority.PLATFORM_BEFORE)
public class WriteGate {
    /** The code of the failure a withheld write raises. */
    public static final String WITHHELD = "WriteWithheld";
    private static final ThreadLocal<String> CLOSED = new ThreadLocal<>();

    /** Runs {@code body} with every Azure write withheld, because of {@code why} (Azure's last refusal). */
    public static <T> T closed(String why, Supplier<T> body) {
        String before = CLOSED.get();
        CLOSED.set(why);
        try {
            return body.get();
        } finally {
            if (before == null) {
                CLOSED.remove();
            } else {
                CLOSED.set(before);
            }
        }
    }

    @AroundInvoke
    Object check(InvocationContext call) throws Exception {
        String why = CLOSED.get();
        if (why != null) {
            throw AzureError.withheld(call.getMethod().getDeclaringClass().getSimpleName() + "." + call.getMethod().getName(), why);
        }
        return call.proceed();
    }
}
