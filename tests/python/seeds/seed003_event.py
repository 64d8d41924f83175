# Seed 003, "Event" (a traffic light; as the tutorial has it).
from threading import Thread, Event
import time
traffic_light = Event()
def light():
    print("Red light!")
    time.sleep(2)
    print("Green light!")
    traffic_light.set() # Wake waiting threads
def car(name):
    print(f"{name} waiting for green...")
    traffic_light.wait() # Block until event is set
    print(f"{name} drives!")
# Start traffic light thread
t_light = Thread(target=light)
t_light.start()
# Start car threads
for i in range(5):
    t_car = Thread(target=car, args=(f"Car-{i}",))
    t_car.start()
