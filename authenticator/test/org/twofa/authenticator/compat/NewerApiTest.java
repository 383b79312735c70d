package org.twofa.authenticator.compat;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.security.ProviderException;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

/**
 * The fallbacks for platform methods newer than the class jar, on the JVM:
 * stand-ins with and without the method, and a StrongBox that refuses.
 */
public class NewerApiTest {
    /** Like KeyGenParameterSpec.Builder on Android 9+. */
    public static final class NewBuilder {
        boolean unlockedDeviceRequired;

        public NewBuilder setUnlockedDeviceRequired(boolean value) {
            unlockedDeviceRequired = value;
            return this;
        }
    }

    /** Like the same builder on Android 7 and 8: no such method. */
    public static final class OldBuilder {
    }

    @Test
    public void callsTheMethodWhenThePlatformHasIt() throws Exception {
        NewBuilder b = new NewBuilder();
        assertTrue(NewerApi.call(28, NewerApi.P, b, "setUnlockedDeviceRequired", boolean.class, Boolean.TRUE));
        assertTrue(b.unlockedDeviceRequired);
    }

    @Test
    public void olderSdkLevelSkipsTheCall() throws Exception {
        NewBuilder b = new NewBuilder();
        assertFalse(NewerApi.call(27, NewerApi.P, b, "setUnlockedDeviceRequired", boolean.class, Boolean.TRUE));
        assertFalse(b.unlockedDeviceRequired);
    }

    @Test
    public void aMissingMethodFallsBackInsteadOfCrashing() throws Exception {
        assertFalse(NewerApi.call(30, NewerApi.P, new OldBuilder(), "setUnlockedDeviceRequired", boolean.class,
                Boolean.TRUE));
        assertFalse(NewerApi.call(30, NewerApi.P, new OldBuilder(), "clearPrimaryClip", null, null));
    }

    /** A failure inside the method is an error, not a fallback. */
    public static final class Failing {
        public void clearPrimaryClip() {
            throw new IllegalStateException("boom");
        }
    }

    @Test
    public void anErrorInsideTheMethodIsPassedOn() throws Exception {
        try {
            NewerApi.call(30, NewerApi.P, new Failing(), "clearPrimaryClip", null, null);
            fail("swallowed the error");
        } catch (IllegalStateException e) {
            assertEquals("boom", e.getMessage());
        }
    }

    @Test
    public void strongBoxRefusalFallsBackToTheOrdinaryKeystore() throws Exception {
        final List<Boolean> attempts = new ArrayList<Boolean>();
        String key = NewerApi.withStrongBoxFallback(true, new NewerApi.KeyAttempt<String>() {
            @Override
            public String generate(boolean strongBox) throws Exception {
                attempts.add(strongBox);
                if (strongBox) {
                    throw new ProviderException("wrapped", new android.security.keystore.StrongBoxUnavailableException());
                }
                return "tee key";
            }
        });
        assertEquals("tee key", key);
        assertEquals(2, attempts.size());
        assertTrue(attempts.get(0));
        assertFalse(attempts.get(1));
    }

    @Test
    public void noStrongBoxMeansOneAttempt() throws Exception {
        final List<Boolean> attempts = new ArrayList<Boolean>();
        NewerApi.withStrongBoxFallback(false, new NewerApi.KeyAttempt<String>() {
            @Override
            public String generate(boolean strongBox) {
                attempts.add(strongBox);
                return "k";
            }
        });
        assertEquals(1, attempts.size());
        assertFalse(attempts.get(0));
    }

    @Test
    public void otherKeystoreErrorsAreNotHidden() {
        try {
            NewerApi.withStrongBoxFallback(true, new NewerApi.KeyAttempt<String>() {
                @Override
                public String generate(boolean strongBox) {
                    throw new ProviderException("keystore broken");
                }
            });
            fail("hid the error");
        } catch (Exception e) {
            assertEquals("keystore broken", e.getMessage());
        }
    }

    @Test
    public void tryNewerFallsBackOnMissingClassesMethodsAndRefusedArguments() throws Exception {
        final int[] ran = {0};
        NewerApi.Attempt works = new NewerApi.Attempt() {
            @Override
            public void run() {
                ran[0]++;
            }
        };
        assertTrue(NewerApi.tryNewer(28, 28, works));
        assertFalse("older platform: not even tried", NewerApi.tryNewer(27, 28, works));
        assertEquals(1, ran[0]);
        assertFalse(NewerApi.tryNewer(30, 28, new NewerApi.Attempt() {
            @Override
            public void run() {
                throw new NoClassDefFoundError("android/hardware/biometrics/BiometricPrompt");
            }
        }));
        assertFalse(NewerApi.tryNewer(30, 28, new NewerApi.Attempt() {
            @Override
            public void run() {
                throw new NoSuchMethodError("setDeviceCredentialAllowed");
            }
        }));
        assertFalse(NewerApi.tryNewer(30, 28, new NewerApi.Attempt() {
            @Override
            public void run() {
                throw new IllegalArgumentException("Title must be set and non-empty");
            }
        }));
        try {
            NewerApi.tryNewer(30, 28, new NewerApi.Attempt() {
                @Override
                public void run() throws Exception {
                    throw new java.io.IOException("real error");
                }
            });
            fail("hid a real error");
        } catch (java.io.IOException e) {
            assertEquals("real error", e.getMessage());
        }
    }
}
