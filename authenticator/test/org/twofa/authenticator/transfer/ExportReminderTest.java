package org.twofa.authenticator.transfer;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class ExportReminderTest {
    @Test
    public void remindsUntilExportedOrDismissed() {
        assertFalse("nothing to lose", ExportReminder.due(0, 100, 0, 0));
        assertTrue("never exported", ExportReminder.due(1, 100, 0, 0));
        assertFalse("exported after the last change", ExportReminder.due(1, 100, 200, 0));
        assertTrue("changed since the export", ExportReminder.due(1, 300, 200, 0));
        assertFalse("dismissed after that change", ExportReminder.due(1, 300, 200, 400));
        assertTrue("a new change after the dismissal", ExportReminder.due(2, 500, 200, 400));
    }
}
