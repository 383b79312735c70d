package org.twofa.authenticator.compat;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * Calls platform methods newer than the API 23 class jar the app is compiled
 * against, by reflection, guarded by the SDK level the caller passes in. A
 * method missing at run time (an older or unusual device) is a fallback, not
 * a crash: {@link #call} says false and the app carries on without it.
 *
 * <p>Every method reached this way is listed in
 * {@code authenticator/docs/platform.md} with its API level and signature.
 */
public final class NewerApi {
    /** Android 9: setUnlockedDeviceRequired, setIsStrongBoxBacked, ClipboardManager.clearPrimaryClip. */
    public static final int P = 28;

    private NewerApi() {}

    /**
     * Invokes {@code target.name(arg)} with a parameter of type {@code type}
     * when {@code sdk >= since} and the method exists. Returns false when it
     * was not called (older platform, or no such method). An exception the
     * method itself throws is passed on: that is a real error, not a fallback.
     */
    public static boolean call(int sdk, int since, Object target, String name, Class<?> type, Object arg)
            throws Exception {
        if (sdk < since || target == null) {
            return false;
        }
        Method method;
        try {
            method = type == null ? target.getClass().getMethod(name) : target.getClass().getMethod(name, type);
        } catch (NoSuchMethodException e) {
            return false;
        }
        try {
            if (type == null) {
                method.invoke(target);
            } else {
                method.invoke(target, arg);
            }
            return true;
        } catch (IllegalAccessException e) {
            return false;
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception) {
                throw (Exception) cause;
            }
            throw new IllegalStateException(cause);
        }
    }

    /** Generates a key, first in StrongBox when asked, else (or when StrongBox refuses) without it. */
    public interface KeyAttempt<K> {
        K generate(boolean strongBox) throws Exception;
    }

    /**
     * StrongBox when the device has it, with a fallback: a StrongBox that
     * refuses the key (StrongBoxUnavailableException, API 28, a
     * ProviderException) means a second attempt in the ordinary Keystore.
     */
    public static <K> K withStrongBoxFallback(boolean hasStrongBox, KeyAttempt<K> attempt) throws Exception {
        if (hasStrongBox) {
            try {
                return attempt.generate(true);
            } catch (Exception e) {
                if (!isStrongBoxUnavailable(e)) {
                    throw e;
                }
            }
        }
        return attempt.generate(false);
    }

    /** By name: the class does not exist in the API 23 jar nor on Android 7 and 8. */
    static boolean isStrongBoxUnavailable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getClass().getName().equals("android.security.keystore.StrongBoxUnavailableException")) {
                return true;
            }
        }
        return false;
    }

    /** Code that uses a class or method newer than the class jar (through compile-only stubs). */
    public interface Attempt {
        void run() throws Exception;
    }

    /**
     * Runs {@code attempt} when {@code sdk >= since}. Returns false, for the
     * caller to fall back, when the platform is older, or when the class or
     * method turns out to be missing at run time (a LinkageError such as
     * NoClassDefFoundError or NoSuchMethodError), or when the platform
     * refuses the call's arguments (an IllegalArgumentException or
     * IllegalStateException from a builder). Other exceptions are passed on.
     */
    public static boolean tryNewer(int sdk, int since, Attempt attempt) throws Exception {
        if (sdk < since) {
            return false;
        }
        try {
            attempt.run();
            return true;
        } catch (LinkageError e) {
            return false;
        } catch (IllegalArgumentException e) {
            return false;
        } catch (IllegalStateException e) {
            return false;
        }
    }
}
