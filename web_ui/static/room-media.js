// The media side of a room, shared by the room page, the reception console and the petitioner's page:
// publishing the local camera and microphone, or receiving one participant, each on its own peer
// connection negotiated over the room socket. The pages keep their own state, messages and retries.
import { gatheringComplete, iceConfiguration } from "/static/signalling.js";

// socket: a RoomSocket, or a function giving the one to use once the offer is ready.
// onPeer(pc, ...) runs as soon as the connection exists, before anything is awaited, so the page can
// keep it and watch it; onSession(id) runs once the server has a session for it, before the answer is set.
// On refusal (or any failure) the connection is closed and the error thrown.
async function negotiate(pc, socket, message, onSession) {
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    const current = typeof socket === "function" ? socket() : socket;
    const reply = await current.request({ ...message, sdp: pc.localDescription.sdp });
    onSession?.(reply.session_id);
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    return reply.session_id;
  } catch (error) {
    pc.close();
    throw error;
  }
}

export async function publishStream(socket, stream, iceServers, { maxBitrate, onPeer, onSession } = {}) {
  const pc = new RTCPeerConnection(iceConfiguration(iceServers));
  onPeer?.(pc);
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  const sessionId = await negotiate(pc, socket, { type: "publish" }, onSession);
  if (maxBitrate) capVideoBitrate(pc, maxBitrate);
  return { pc, sessionId };
}

export function capVideoBitrate(pc, maxBitrate) {
  for (const sender of pc.getSenders()) {
    if (sender.track?.kind !== "video") continue;
    const parameters = sender.getParameters();
    if (parameters.encodings?.length) {
      parameters.encodings[0].maxBitrate = maxBitrate;
      sender.setParameters(parameters).catch(() => {});
    }
  }
}

// onPeer(pc, stream); onTrack(event, stream) after each arriving track is added to the stream.
export async function subscribeTo(socket, participantId, iceServers, { onPeer, onSession, onTrack } = {}) {
  const pc = new RTCPeerConnection(iceConfiguration(iceServers));
  const stream = new MediaStream();
  onPeer?.(pc, stream);
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addEventListener("track", (event) => {
    stream.addTrack(event.track);
    onTrack?.(event, stream);
  });
  const sessionId = await negotiate(pc, socket, { type: "subscribe", participant_id: participantId }, onSession);
  return { pc, sessionId, stream };
}
