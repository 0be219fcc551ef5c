// The official SDK as the test page uses it: everything it exports, on window.HeyGen.
import StreamingAvatar, * as sdk from '@heygen/streaming-avatar';

window.HeyGen = { ...sdk, StreamingAvatar };
