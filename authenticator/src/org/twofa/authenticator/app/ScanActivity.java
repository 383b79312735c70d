package org.twofa.authenticator.app;

import android.app.Activity;

public class ScanActivity extends Activity {
}
