package org.twofa.authenticator.compat;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class PoliciesTest {
    @Test
    public void appLock() {
        assertFalse("off", AppLock.shouldLock(AppLock.OFF, 0, 1000));
        assertTrue("fresh start", AppLock.shouldLock(60, 0, 1000));
        assertTrue("immediately", AppLock.shouldLock(0, 5000, 5000));
        assertFalse("back within the minute", AppLock.shouldLock(60, 5000, 64_999));
        assertTrue("a minute in the background", AppLock.shouldLock(60, 5000, 65_000));
        assertTrue("clock went backwards (reboot): lock", AppLock.shouldLock(300, 5000, 4000));
    }

    @Test
    public void clipboard() {
        assertTrue("still our code", ClipboardPolicy.shouldClear(true, "One-time code", "One-time code"));
        assertFalse("the user copied something else", ClipboardPolicy.shouldClear(true, "url", "One-time code"));
        assertFalse("already empty", ClipboardPolicy.shouldClear(true, null, "One-time code"));
        assertTrue("unreadable in the background", ClipboardPolicy.shouldClear(false, null, "One-time code"));
    }

    @Test
    public void unlockRoute() {
        assertTrue(AppLock.route(24) == AppLock.Route.CONFIRM_CREDENTIAL);
        assertTrue(AppLock.route(27) == AppLock.Route.CONFIRM_CREDENTIAL);
        assertTrue(AppLock.route(28) == AppLock.Route.BIOMETRIC_PROMPT);
        assertFalse("user cancelled: stay locked", AppLock.fallBackAfterError(10));
        assertFalse("system cancelled: stay locked", AppLock.fallBackAfterError(5));
        assertTrue("no biometrics enrolled: screen lock instead", AppLock.fallBackAfterError(11));
        assertTrue("no sensor: screen lock instead", AppLock.fallBackAfterError(12));
        assertTrue("locked out: screen lock instead", AppLock.fallBackAfterError(7));
    }
}
