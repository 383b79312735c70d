package org.twofa.authenticator.otp;
import org.junit.Test;
import static org.junit.Assert.assertEquals;
public class PlaceholderTest { @Test public void one() { assertEquals(2, 1 + 1); } }
